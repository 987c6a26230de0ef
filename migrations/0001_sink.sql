CREATE TABLE `dead_letters` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`queue` text NOT NULL,
	`message_id` text NOT NULL,
	`attempts` integer NOT NULL,
	`body` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dead_letters_message_id` ON `dead_letters` (`message_id`);--> statement-breakpoint
CREATE TABLE `events` (
	`message_id` text PRIMARY KEY NOT NULL,
	`profile_id` text NOT NULL,
	`user_id` text,
	`anonymous_id` text,
	`type` text NOT NULL,
	`name` text,
	`timestamp` integer NOT NULL,
	`received_at` integer NOT NULL,
	`session_number` integer,
	`product_id` text,
	`revenue` real NOT NULL,
	`properties` text NOT NULL,
	`traits` text NOT NULL,
	`context` text NOT NULL,
	`lake_key` text,
	`loaded_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_profile_time` ON `events` (`profile_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_time` ON `events` (`timestamp`);--> statement-breakpoint
CREATE INDEX `events_lake_key` ON `events` (`lake_key`);--> statement-breakpoint
CREATE TABLE `profile_affinities` (
	`profile_id` text NOT NULL,
	`dimension` text NOT NULL,
	`score` real NOT NULL,
	`as_of` integer NOT NULL,
	`version` integer NOT NULL,
	PRIMARY KEY(`profile_id`, `dimension`)
);
--> statement-breakpoint
CREATE TABLE `profiles` (
	`profile_id` text PRIMARY KEY NOT NULL,
	`user_id` text,
	`anonymous_ids` text NOT NULL,
	`traits` text NOT NULL,
	`group_ids` text NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`event_count` integer NOT NULL,
	`session_count` integer NOT NULL,
	`version` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sessions` (
	`profile_id` text NOT NULL,
	`number` integer NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer NOT NULL,
	`events` integer NOT NULL,
	`pages` integer NOT NULL,
	`revenue` real NOT NULL,
	`landing_page` text,
	`version` integer NOT NULL,
	PRIMARY KEY(`profile_id`, `number`)
);
--> statement-breakpoint
CREATE INDEX `sessions_started_at` ON `sessions` (`started_at`);--> statement-breakpoint
CREATE TABLE `sink_stats` (
	`name` text PRIMARY KEY NOT NULL,
	`value` real NOT NULL
);
--> statement-breakpoint
CREATE TABLE `suppressions` (
	`subject_type` text NOT NULL,
	`subject_hash` text NOT NULL,
	`regulation_id` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`subject_type`, `subject_hash`)
);
