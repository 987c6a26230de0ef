CREATE TABLE `metric_minutes` (
	`minute` integer NOT NULL,
	`name` text NOT NULL,
	`labels` text NOT NULL,
	`value` real NOT NULL,
	PRIMARY KEY(`minute`, `name`, `labels`)
);
