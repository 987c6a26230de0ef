CREATE TABLE `erased_profiles` (
	`profile_hash` text PRIMARY KEY NOT NULL,
	`erased_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `regulation_subjects` (
	`regulation_id` text NOT NULL,
	`position` integer NOT NULL,
	`subject_hash` text NOT NULL,
	`status` text NOT NULL,
	`detail` text,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`regulation_id`, `position`)
);
--> statement-breakpoint
CREATE TABLE `regulations` (
	`id` text PRIMARY KEY NOT NULL,
	`regulation_type` text NOT NULL,
	`subject_type` text NOT NULL,
	`created_at` integer NOT NULL,
	`finished_at` integer
);
