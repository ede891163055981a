CREATE TABLE `event_rollups` (
	`hour` integer NOT NULL,
	`category` integer NOT NULL,
	`severity` integer NOT NULL,
	`lan_ip` text DEFAULT '' NOT NULL,
	`remote_ip` text DEFAULT '' NOT NULL,
	`port` integer DEFAULT 0 NOT NULL,
	`domain` text DEFAULT '' NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`hour`, `category`, `severity`, `lan_ip`, `remote_ip`, `port`, `domain`)
);
--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY NOT NULL,
	`time` integer NOT NULL,
	`category` integer NOT NULL,
	`severity` integer NOT NULL,
	`class` integer NOT NULL,
	`log_id` text NOT NULL,
	`lan_ip` text,
	`remote_ip` text,
	`proto` text,
	`port` integer,
	`incident_id` integer,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `events_time` ON `events` (`time`);--> statement-breakpoint
CREATE INDEX `events_category_time` ON `events` (`category`,`time`);--> statement-breakpoint
CREATE INDEX `events_lan_time` ON `events` (`lan_ip`,`time`);--> statement-breakpoint
CREATE TABLE `incidents` (
	`id` integer PRIMARY KEY NOT NULL,
	`key` text NOT NULL,
	`kind` integer NOT NULL,
	`category` integer NOT NULL,
	`severity` integer NOT NULL,
	`log_id` text NOT NULL,
	`direction` integer NOT NULL,
	`action` integer NOT NULL,
	`lan_ip` text,
	`lan_mac` text,
	`remote_ip` text,
	`proto` text,
	`domain` text,
	`app` text,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`count` integer NOT NULL,
	`spread` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `incidents_last_seen` ON `incidents` (`last_seen`);--> statement-breakpoint
CREATE INDEX `incidents_category_last_seen` ON `incidents` (`category`,`last_seen`);--> statement-breakpoint
CREATE INDEX `incidents_lan_last_seen` ON `incidents` (`lan_ip`,`last_seen`);