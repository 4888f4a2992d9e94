"""searchapp: a search engine over technology-regulation news.

Data flows one way: reader -> indexer -> search -> web / cli.
"""

__version__ = "0.1.0"
