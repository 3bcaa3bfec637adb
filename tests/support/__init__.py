"""What several test folders (and bench/) share: the live stack and its fixtures. Test modules import
from here, never from one another."""
