"""Agents of cchc-monitor and the pure domain logic they call.

The domain modules (:mod:`agents.calendar`, :mod:`agents.periods`, :mod:`agents.clock`,
:mod:`agents.rules`, :mod:`agents.dossier`, :mod:`agents.figures`, :mod:`agents.engine`)
import nothing from Kafka or Faust, so every rule is tested fast and exhaustively; the
agent module (:mod:`agents.intake`) is the thin Faust layer around them.
"""
