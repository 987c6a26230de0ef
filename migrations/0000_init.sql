CREATE TABLE `bad_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`received_at` integer NOT NULL,
	`source` text NOT NULL,
	`reason` text NOT NULL,
	`message_index` integer,
	`payload` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `bad_events_received_at` ON `bad_events` (`received_at`);--> statement-breakpoint
CREATE TABLE `product_popularity` (
	`product_id` text PRIMARY KEY NOT NULL,
	`score` real NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `products` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text NOT NULL,
	`url` text NOT NULL,
	`image_url` text,
	`price` real,
	`currency` text NOT NULL,
	`categories` text NOT NULL,
	`brand` text,
	`in_stock` integer NOT NULL,
	`updated_at` integer NOT NULL
);
