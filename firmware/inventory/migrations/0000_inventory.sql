CREATE TABLE `inventory_addresses` (
	`ip` text PRIMARY KEY NOT NULL,
	`mac` text NOT NULL,
	`family` integer NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`source` text NOT NULL,
	FOREIGN KEY (`mac`) REFERENCES `inventory_devices`(`mac`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `inventory_addresses_mac` ON `inventory_addresses` (`mac`);--> statement-breakpoint
CREATE TABLE `inventory_devices` (
	`mac` text PRIMARY KEY NOT NULL,
	`mac_kind` text NOT NULL,
	`vendor` text,
	`dhcp_hostname` text,
	`dhcp_vendor_class` text,
	`dhcp_client_id` text,
	`name` text,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`last_source` text NOT NULL,
	`baseline` integer DEFAULT false NOT NULL,
	`announced_at` integer
);
--> statement-breakpoint
CREATE TABLE `inventory_state` (
	`key` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
);
