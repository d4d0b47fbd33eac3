"""recommendation-agent: understand a request, search library and tenant playbooks, rank them with reasons."""
