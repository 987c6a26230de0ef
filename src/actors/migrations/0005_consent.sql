ALTER TABLE `profile` ADD `personalization` integer;--> statement-breakpoint
ALTER TABLE `profile` ADD `consent_at` integer;