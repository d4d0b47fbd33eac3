"""Force renewal of cert-manager Certificates that expire soon."""

import os
import sys

from kubernetes import client, config


def main() -> int:
    config.load_kube_config()
    ns = os.environ.get("NAMESPACE", "default")
    from datetime import UTC, datetime, timedelta

    api = client.CustomObjectsApi()
    limit = datetime.now(UTC) + timedelta(days=int(os.environ.get("DAYS", "14")))
    for cert in api.list_namespaced_custom_object("cert-manager.io", "v1", ns, "certificates")["items"]:
        after = datetime.fromisoformat(cert["status"]["notAfter"].replace("Z", "+00:00"))
        if after < limit:
            print(f"renewing {cert['metadata']['name']} (expires {after})")
            if os.environ.get("DRY_RUN") != "true":
                status = {
                    "status": {
                        "conditions": [
                            {
                                "type": "Issuing",
                                "status": "True",
                                "reason": "ManuallyTriggered",
                                "message": "renewal by playbook",
                            }
                        ]
                    }
                }
                api.patch_namespaced_custom_object_status(
                    "cert-manager.io", "v1", ns, "certificates", cert["metadata"]["name"], status
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
