from shoprank.events.log import EventLog, EventSchema

__all__ = ["EventLog", "EventSchema"]
