# PostgreSQL 15 for deploy/compose.yaml, from Debian 12's own postgresql-15 on the same base
# as caja's image (deploy/build-base.sh), so no image registry is needed:
#
#   podman build --network=host -f deploy/postgres.Dockerfile -t caja-postgres:15 deploy
#
# On its first start it creates the cluster in /var/lib/postgresql/data (a volume), the
# role POSTGRES_USER with POSTGRES_PASSWORD and the database POSTGRES_DB, and accepts
# password (scram-sha-256) connections from any address; then it runs postgres.
FROM caja-base:bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql

COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh

ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8

USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=3s --retries=10 \
  CMD ["pg_isready", "-h", "127.0.0.1", "-p", "5432"]
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
