"""Installed agents: registry packages vendored on the host, built into a prefix once per version.

    plan = install_plan(agent, version)          # what to fetch, from agent.yaml `install:`
    fetch(plan, vendor_root)                     # npm pack / pip download into the cache
    vendor_set(vendor_root, agent, version)      # the verified set a build reads as a context

The vendor cache is content-addressed (`<root>/sha256/<hex>`); each agent version has a set
directory (`<root>/sets/<agent>/<version>/`: `manifest.json` and `files/`, hard links into
the blobs) that the agent image's build reads as the named context `vendor`. Nothing in a
build fetches anything: carry the cache to an air-gapped machine and it builds the same.
"""

from bakectl.agents.plan import PREFIX_ROOT, InstallPlan, install_plan, prefix_of, with_version
from bakectl.agents.vendor import VendorSet, fetch, vendor_root, vendor_set

__all__ = [
    "PREFIX_ROOT",
    "InstallPlan",
    "VendorSet",
    "fetch",
    "install_plan",
    "prefix_of",
    "vendor_root",
    "vendor_set",
    "with_version",
]
