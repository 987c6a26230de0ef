CREATE TABLE `experiment_exposures` (
	`experiment_id` text NOT NULL,
	`profile_id` text NOT NULL,
	`variant` text NOT NULL,
	`exposed_at` integer NOT NULL,
	`opened_at` integer,
	`clicked_at` integer,
	`converted_at` integer,
	`conversion_message_id` text,
	`revenue` real NOT NULL,
	`merged_into` text,
	`revision` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`experiment_id`, `profile_id`)
);
--> statement-breakpoint
CREATE INDEX `experiment_exposures_variant` ON `experiment_exposures` (`experiment_id`,`variant`);--> statement-breakpoint
CREATE INDEX `experiment_exposures_profile` ON `experiment_exposures` (`profile_id`);--> statement-breakpoint
CREATE INDEX `experiment_exposures_merged_into` ON `experiment_exposures` (`merged_into`);--> statement-breakpoint
CREATE TABLE `experiments` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text,
	`campaign` text,
	`control` text NOT NULL,
	`variants` text NOT NULL,
	`conversion_event` text NOT NULL,
	`attribution_window_days` integer NOT NULL,
	`salt` text NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`stopped_at` integer
);
--> statement-breakpoint
CREATE INDEX `experiments_campaign` ON `experiments` (`campaign`,`created_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `experiments_running_campaign` ON `experiments` (`campaign`) WHERE status = 'running';