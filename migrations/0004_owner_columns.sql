ALTER TABLE `bad_events` ADD `user_id` text;--> statement-breakpoint
ALTER TABLE `bad_events` ADD `anonymous_id` text;--> statement-breakpoint
ALTER TABLE `bad_events` ADD `email_hash` text;--> statement-breakpoint
CREATE INDEX `bad_events_user_id` ON `bad_events` (`user_id`);--> statement-breakpoint
CREATE INDEX `bad_events_anonymous_id` ON `bad_events` (`anonymous_id`);--> statement-breakpoint
CREATE INDEX `bad_events_email_hash` ON `bad_events` (`email_hash`);--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `profile_ids` text;--> statement-breakpoint
ALTER TABLE `regulation_subjects` ADD `pending_subject` text;--> statement-breakpoint
CREATE INDEX `regulation_subjects_pending` ON `regulation_subjects` (`status`,`updated_at`);--> statement-breakpoint
-- Backfill: owners read from each quarantined payload's own fields (json_extract, ids trimmed as ingestion trims them), never by text search.
-- A payload that is not a JSON object (a raw pixel string, a truncated payload) keeps NULL owners.
-- The e-mail hash needs SHA-256, which SQL here lacks: old rows keep email_hash NULL and erasure reads
-- their `traits.email` field instead (src/privacy/erasure.ts).
UPDATE `bad_events` SET
  `user_id` = NULLIF(CASE WHEN json_type(`payload`, '$.userId') IN ('text', 'integer', 'real')
    THEN trim(CAST(json_extract(`payload`, '$.userId') AS TEXT)) END, ''),
  `anonymous_id` = NULLIF(CASE WHEN json_type(`payload`, '$.anonymousId') IN ('text', 'integer', 'real')
    THEN trim(CAST(json_extract(`payload`, '$.anonymousId') AS TEXT)) END, '')
WHERE CASE WHEN json_valid(`payload`) THEN json_type(`payload`) END = 'object';--> statement-breakpoint
-- Backfill: the profiles a dead letter's change records name (`records[].profileId`) and its outbox run's actor.
UPDATE `dead_letters` SET `profile_ids` = (
  SELECT json_group_array(`id`) FROM (
    SELECT json_extract(`r`.`value`, '$.profileId') AS `id` FROM json_each(`dead_letters`.`body`, '$.records') AS `r`
      WHERE `r`.`type` = 'object' AND json_type(`r`.`value`, '$.profileId') = 'text'
    UNION
    SELECT CASE
      WHEN json_extract(`dead_letters`.`body`, '$.actor') LIKE 'user:%'
        THEN 'user_id:' || substr(json_extract(`dead_letters`.`body`, '$.actor'), 6)
      WHEN json_extract(`dead_letters`.`body`, '$.actor') LIKE 'anon:%'
        THEN 'anonymous_id:' || substr(json_extract(`dead_letters`.`body`, '$.actor'), 6)
    END
  ) WHERE `id` IS NOT NULL
)
WHERE CASE WHEN json_valid(`dead_letters`.`body`) THEN json_type(`dead_letters`.`body`) END = 'object';
