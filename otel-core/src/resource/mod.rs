//! Resource detection: service, host, OS, process, container and Kubernetes.
