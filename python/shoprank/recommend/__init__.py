from shoprank.recommend.recommender import Recommender

__all__ = ["Recommender"]
