"""The demo's real PBX stack: Kamailio, MariaDB and Apache on the servers, real clients.

What each server runs, generated here: a Kamailio configuration that answers
SIP ``OPTIONS`` with its node name and keeps registrations in MariaDB
(:mod:`.kamailio`), MariaDB's data directory and schema (:mod:`.mariadb`),
a minimal Apache (:mod:`.apache`). What the client namespace runs: SIPp
pinging with ``OPTIONS`` (:mod:`.sipp`), a phone that registers once and is
looked up after the failover (:mod:`.phone`), a database writer that logs
every acknowledged row (:mod:`.writer`) and a web fetcher (:mod:`.web`).
:mod:`.results` turns their records into the report's figures.
"""
