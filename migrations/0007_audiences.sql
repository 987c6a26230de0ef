CREATE TABLE `audience_deliveries` (
	`message_id` text NOT NULL,
	`destination` text NOT NULL,
	`audience_key` text NOT NULL,
	`profile_id` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer NOT NULL,
	`last_error` text,
	`body` text,
	`at` integer NOT NULL,
	PRIMARY KEY(`message_id`, `destination`)
);
--> statement-breakpoint
CREATE INDEX `audience_deliveries_audience` ON `audience_deliveries` (`audience_key`,`status`,`at`);--> statement-breakpoint
CREATE INDEX `audience_deliveries_profile` ON `audience_deliveries` (`profile_id`);--> statement-breakpoint
CREATE TABLE `audience_memberships` (
	`audience_key` text NOT NULL,
	`profile_id` text NOT NULL,
	`entered_at` integer NOT NULL,
	`exited_at` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`audience_key`, `profile_id`, `entered_at`)
);
--> statement-breakpoint
CREATE INDEX `audience_memberships_current` ON `audience_memberships` (`audience_key`,`exited_at`,`entered_at`,`profile_id`);--> statement-breakpoint
CREATE INDEX `audience_memberships_profile` ON `audience_memberships` (`profile_id`);--> statement-breakpoint
CREATE TABLE `audiences` (
	`key` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`rule` text NOT NULL,
	`destinations` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`backfill_id` text,
	`backfill_status` text,
	`backfill_total` integer,
	`backfill_done` integer,
	`backfill_started_at` integer,
	`backfill_finished_at` integer
);
--> statement-breakpoint
CREATE TABLE `computed_traits` (
	`key` text PRIMARY KEY NOT NULL,
	`definition` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
