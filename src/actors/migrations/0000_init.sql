CREATE TABLE `affinities` (
	`dimension` text PRIMARY KEY NOT NULL,
	`score` real NOT NULL,
	`as_of` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `product_history` (
	`product_id` text PRIMARY KEY NOT NULL,
	`last_viewed_at` integer,
	`last_added_at` integer,
	`last_purchased_at` integer
);
--> statement-breakpoint
CREATE TABLE `profile` (
	`id` integer PRIMARY KEY NOT NULL,
	`actor_key` text NOT NULL,
	`user_id` text,
	`anonymous_ids` text NOT NULL,
	`traits` text NOT NULL,
	`trait_times` text NOT NULL,
	`group_ids` text NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`event_count` integer NOT NULL,
	`session_count` integer NOT NULL,
	`version` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `recent_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text NOT NULL,
	`type` text NOT NULL,
	`name` text,
	`timestamp` integer NOT NULL,
	`received_at` integer NOT NULL,
	`body` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `seen_messages` (
	`message_id` text PRIMARY KEY NOT NULL,
	`seen_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `seen_messages_seen_at` ON `seen_messages` (`seen_at`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`number` integer PRIMARY KEY NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer NOT NULL,
	`events` integer NOT NULL,
	`pages` integer NOT NULL,
	`revenue` real NOT NULL,
	`landing_page` text
);
