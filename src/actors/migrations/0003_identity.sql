CREATE TABLE `identity_links` (
	`id` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`at` integer NOT NULL
);
