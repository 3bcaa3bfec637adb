"""Attacks on the trust boundary (issue 13), each performed as the attacker would."""
