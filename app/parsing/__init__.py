"""Pure parsers: text or bytes in, a `NormalizedArticle` out. No database, web or HTTP here."""
