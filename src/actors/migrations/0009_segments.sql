CREATE TABLE `audience_members` (
	`audience` text PRIMARY KEY NOT NULL,
	`entered_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `segment_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`state` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text NOT NULL,
	`audience` text NOT NULL,
	`url` text NOT NULL,
	`body` text NOT NULL,
	`attempts` integer NOT NULL,
	`next_at` integer NOT NULL,
	`last_error` text
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_next_at` ON `webhook_deliveries` (`next_at`);