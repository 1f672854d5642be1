package docket.intake

default allow := false

allow if "docket" in input.ticket.labels
