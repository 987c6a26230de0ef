CREATE TABLE `directory_claims` (
	`name` text PRIMARY KEY NOT NULL,
	`at` integer NOT NULL
);
