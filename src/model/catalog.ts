/** Catalog product shape (DESIGN §2.4): one definition for validation, storage and ranking. */
import { z } from "zod";

const absoluteUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === "https:" || u.protocol === "http:";
    } catch {
      return false;
    }
  }, "must be an absolute http(s) URL (email clients cannot resolve relative links)");

export const product = z.object({
  id: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9._:-]+$/, "may contain only letters, digits and . _ : -"),
  title: z.string().trim().min(1).max(300),
  url: absoluteUrl,
  imageUrl: absoluteUrl.optional().nullable(),
  price: z.number().finite().nonnegative().optional().nullable(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD")
    .default("USD"),
  categories: z.array(z.string().trim().min(1).max(128)).max(10).default([]),
  brand: z.string().trim().max(128).optional().nullable(),
  inStock: z.boolean().default(true),
});
export type Product = z.infer<typeof product>;

export const CATALOG_BATCH_LIMIT = 1_000;

export const catalogUpsertRequest = z.object({
  products: z.array(z.unknown()).min(1, "send at least one product"),
});
