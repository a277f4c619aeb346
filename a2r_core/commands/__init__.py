"""One module per `a2r` sub-command; see a2r_core.cli for the contract each module follows."""
