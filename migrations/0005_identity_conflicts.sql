-- IF NOT EXISTS: a local warehouse may have this table from when it was migration 0004_identity_conflicts.
CREATE TABLE IF NOT EXISTS `identity_conflicts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`received_at` integer NOT NULL,
	`kind` text NOT NULL,
	`message_id` text NOT NULL,
	`profile_id` text NOT NULL,
	`holder_profile_id` text,
	`email_sha256` text,
	`claimed` text
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS `identity_conflicts_profile` ON `identity_conflicts` (`profile_id`);--> statement-breakpoint
CREATE INDEX IF NOT EXISTS `identity_conflicts_holder` ON `identity_conflicts` (`holder_profile_id`);--> statement-breakpoint
CREATE INDEX IF NOT EXISTS `identity_conflicts_email` ON `identity_conflicts` (`email_sha256`);--> statement-breakpoint
CREATE INDEX IF NOT EXISTS `identity_conflicts_kind` ON `identity_conflicts` (`kind`,`id`);--> statement-breakpoint
CREATE INDEX IF NOT EXISTS `identity_conflicts_received` ON `identity_conflicts` (`received_at`);