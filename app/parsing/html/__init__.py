"""HTML pages to articles: trafilatura finds the body, page-structure rules fill the rest."""

from app.parsing.html.extract import EXTRACTOR, ExtractedPage, extract_article, extract_page

__all__ = ["EXTRACTOR", "ExtractedPage", "extract_article", "extract_page"]
