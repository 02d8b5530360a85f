-- Searching as people type (issue 12): "O'Brien", "O’Brien" and "obrien", "Zoë" and "zoe",
-- "Smith-Jones" and "smith jones" are the same search. One folding rule, in the database,
-- used on both sides of every comparison: accents off, lower case, apostrophes (straight and
-- curly) and full stops dropped, hyphens and runs of white space as one space.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- IMMUTABLE (so it can be indexed): the dictionary is named, not looked up.
CREATE FUNCTION search_fold(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT btrim(regexp_replace(
            regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, t)),
                           '[''’‘`.]', '', 'g'),
            '[\s\-‐–—]+', ' ', 'g'))
    $$;
