CREATE INDEX `profiles_user_id` ON `profiles` (`user_id`);--> statement-breakpoint
CREATE INDEX `profiles_email` ON `profiles` (json_extract(`traits`, '$.email'));--> statement-breakpoint
CREATE INDEX `regulations_created` ON `regulations` (`created_at`,`id`);