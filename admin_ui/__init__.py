"""Server-rendered pages (Jinja2, Arabic right-to-left first, English) that call engine commands directly."""
