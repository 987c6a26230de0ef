CREATE TABLE `outbox` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`record` text NOT NULL,
	`bytes` integer NOT NULL,
	`created_at` integer NOT NULL,
	`sent_at` integer
);
