CREATE TABLE `alert_incidents` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`key` text NOT NULL,
	`opened_at` integer NOT NULL,
	`resolved_at` integer,
	`summary` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alert_incidents_open` ON `alert_incidents` (`key`) WHERE resolved_at IS NULL;--> statement-breakpoint
CREATE INDEX `alert_incidents_opened` ON `alert_incidents` (`opened_at`);--> statement-breakpoint
CREATE TABLE `metric_counters` (
	`name` text NOT NULL,
	`labels` text NOT NULL,
	`value` real NOT NULL,
	PRIMARY KEY(`name`, `labels`)
);
--> statement-breakpoint
CREATE TABLE `profile_merges` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`from_profile` text NOT NULL,
	`into_profile` text NOT NULL,
	`requested_by` text NOT NULL,
	`reason` text,
	`requested_at` integer NOT NULL,
	`finished_at` integer,
	`status` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `profile_merges_from` ON `profile_merges` (`from_profile`);--> statement-breakpoint
CREATE INDEX `profile_merges_into` ON `profile_merges` (`into_profile`);--> statement-breakpoint
CREATE TABLE `quality_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`trigger` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`status` text NOT NULL,
	`checks` text,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `quality_runs_started` ON `quality_runs` (`started_at`);--> statement-breakpoint
CREATE TABLE `tracking_plan_samples` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`received_at` integer NOT NULL,
	`plan_version` integer NOT NULL,
	`message_id` text NOT NULL,
	`type` text NOT NULL,
	`event` text NOT NULL,
	`action` text NOT NULL,
	`violations` text NOT NULL,
	`user_id` text,
	`anonymous_id` text
);
--> statement-breakpoint
CREATE INDEX `tracking_plan_samples_event` ON `tracking_plan_samples` (`event`,`id`);--> statement-breakpoint
CREATE INDEX `tracking_plan_samples_received` ON `tracking_plan_samples` (`received_at`);--> statement-breakpoint
CREATE INDEX `tracking_plan_samples_user` ON `tracking_plan_samples` (`user_id`);--> statement-breakpoint
CREATE INDEX `tracking_plan_samples_anonymous` ON `tracking_plan_samples` (`anonymous_id`);--> statement-breakpoint
CREATE TABLE `tracking_plan_violations` (
	`plan_version` integer NOT NULL,
	`event` text NOT NULL,
	`property` text NOT NULL,
	`kind` text NOT NULL,
	`count` integer NOT NULL,
	`last_at` integer NOT NULL,
	PRIMARY KEY(`plan_version`, `event`, `property`, `kind`)
);
--> statement-breakpoint
CREATE TABLE `tracking_plans` (
	`version` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`plan` text,
	`created_at` integer NOT NULL
);
