"""``sparrow.common``: what the host and every node share, importing neither.

Config plumbing and value checks, the model description, data sets, the MQTT
transport and topic tree, control frames, the support summary and segment
wire helpers, and the ``sparrow`` command table.
"""
