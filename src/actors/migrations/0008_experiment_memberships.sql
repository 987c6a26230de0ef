CREATE TABLE `actor_name` (
	`id` integer PRIMARY KEY NOT NULL,
	`name` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `experiment_memberships` (
	`experiment_id` text PRIMARY KEY NOT NULL,
	`variant` text NOT NULL,
	`exposed_at` integer NOT NULL,
	`conversion_event` text NOT NULL,
	`window_ms` integer NOT NULL,
	`opened_at` integer,
	`clicked_at` integer,
	`converted_at` integer,
	`conversion_message_id` text,
	`revenue` real DEFAULT 0 NOT NULL,
	`revision` integer NOT NULL
);
