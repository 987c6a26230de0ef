/** Whether a five-field cron expression (UTC) names the minute of `date`; throws on a field it does not understand. */
export declare function cronMatches(expression: string, date: Date): boolean;
