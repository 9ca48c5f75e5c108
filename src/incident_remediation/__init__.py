"""Front end of the incident.remediation collection: alerts in, remediation playbooks out."""

__version__ = "0.2.0"
