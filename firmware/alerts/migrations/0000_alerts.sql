CREATE TABLE `alert_heads` (
	`identity_key` text PRIMARY KEY NOT NULL,
	`alert_id` text NOT NULL,
	`version` integer NOT NULL,
	`write_token` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `alert_outbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`alert_id` text NOT NULL,
	`reason` text NOT NULL,
	`severity` text NOT NULL,
	`created_at` integer NOT NULL,
	`payload` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`delivered_at` integer,
	`last_error` text,
	FOREIGN KEY (`alert_id`) REFERENCES `alerts`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "alert_outbox_reason_valid" CHECK(reason IN ('opened', 'reopened', 'escalated'))
);
--> statement-breakpoint
CREATE INDEX `alert_outbox_pending` ON `alert_outbox` (`delivered_at`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `alert_outbox_alert` ON `alert_outbox` (`alert_id`);--> statement-breakpoint
CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`identity_key` text NOT NULL,
	`kind` text NOT NULL,
	`category` text NOT NULL,
	`severity` text NOT NULL,
	`state` text NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`count` integer NOT NULL,
	`opened_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`acknowledged_at` integer,
	`resolved_at` integer,
	`resolved_by` text,
	`reopen_count` integer DEFAULT 0 NOT NULL,
	`version` integer NOT NULL,
	`lan_ip` text,
	`lan_mac` text,
	`device` text NOT NULL,
	`evidence` text NOT NULL,
	CONSTRAINT "alerts_state_valid" CHECK(state IN ('open', 'acknowledged', 'resolved')),
	CONSTRAINT "alerts_severity_valid" CHECK(severity IN ('high', 'medium', 'low')),
	CONSTRAINT "alerts_resolved_by_valid" CHECK(resolved_by IS NULL OR resolved_by IN ('user', 'system')),
	CONSTRAINT "alerts_counts_valid" CHECK(count >= 0 AND reopen_count >= 0 AND version >= 1)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alerts_active_key` ON `alerts` (`identity_key`) WHERE state <> 'resolved';--> statement-breakpoint
CREATE INDEX `alerts_key_opened` ON `alerts` (`identity_key`,`opened_at`);--> statement-breakpoint
CREATE INDEX `alerts_state_severity_last` ON `alerts` (`state`,`severity`,`last_seen`);--> statement-breakpoint
CREATE INDEX `alerts_last_seen` ON `alerts` (`last_seen`);--> statement-breakpoint
CREATE INDEX `alerts_lan_ip` ON `alerts` (`lan_ip`);