ALTER TABLE `bad_events` ADD `code` text DEFAULT 'invalid_fields' NOT NULL;--> statement-breakpoint
ALTER TABLE `bad_events` ADD `replayed_at` integer;--> statement-breakpoint
ALTER TABLE `bad_events` ADD `replayed_message_id` text;--> statement-breakpoint
CREATE INDEX `bad_events_code` ON `bad_events` (`code`,`id`);