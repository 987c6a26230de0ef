CREATE TABLE `pointer` (
	`id` integer PRIMARY KEY NOT NULL,
	`target` text NOT NULL,
	`at` integer NOT NULL
);
