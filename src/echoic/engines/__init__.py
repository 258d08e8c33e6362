"""Speech-to-text backends behind one interface (:class:`echoic.engines.base.Engine`)."""
