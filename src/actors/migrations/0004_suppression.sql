CREATE TABLE `suppression` (
	`id` integer PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`dropped` integer NOT NULL
);
