CREATE TABLE `policy_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`time` integer NOT NULL,
	`source` text NOT NULL,
	`policy_id` text NOT NULL,
	`serial` integer NOT NULL,
	`change` text,
	`diff` text,
	CONSTRAINT "policy_history_source_valid" CHECK(source IN ('provider', 'local')),
	CONSTRAINT "policy_history_payload_valid" CHECK((source = 'local' AND change IS NOT NULL) OR (source = 'provider' AND diff IS NOT NULL))
);
