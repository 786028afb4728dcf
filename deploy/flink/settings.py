"""The Flink cluster's settings for cluster.py: JVM options, flink-conf.yaml, log4j."""

JOB_SERVER_LOG = [  # slf4j-simple: a time on every line
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss,SSS",
]
# Flink's own list for Java 17 (env.java.opts.all of its 1.18 flink-conf.yaml).
JAVA17_OPTS = [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    *(
        f"--add-opens=java.base/{p}=ALL-UNNAMED"
        for p in (
            "java.lang",
            "java.net",
            "java.io",
            "java.nio",
            "sun.nio.ch",
            "java.lang.reflect",
            "java.text",
            "java.time",
            "java.util",
            "java.util.concurrent",
            "java.util.concurrent.atomic",
            "java.util.concurrent.locks",
        )
    ),
]


# StatisticsGen's TFDV pipeline failed at the defaults (network memory 10% of the TaskManager's,
# 512 buffers per sort-merge shuffle): "Insufficient number of network buffers: required 512, but
# only 437 available". Fixed network memory and fewer buffers per shuffle: TFDV then ran.
# CsvExampleGen on 1M rows failed with "OutOfMemoryError: Direct buffer memory": the Fn API's
# gRPC buffers are direct memory the TaskManager had not reserved (task off-heap 0, framework
# 128m): reserved here, on top of the managed memory Flink's batch sorts use (with managed
# memory cut to 10% for it, Transform's grouping failed: "Record too large" for a sort buffer).
FLINK_CONF = """\
jobmanager.rpc.address: localhost
jobmanager.rpc.port: {rpc_port}
jobmanager.bind-host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.host: localhost
rest.address: localhost
rest.bind-address: 127.0.0.1
rest.port: {rest_port}
taskmanager.numberOfTaskSlots: 1
parallelism.default: {parallelism}
jobmanager.memory.process.size: 1024m
taskmanager.memory.process.size: {tm_memory}
io.tmp.dirs: {tmp}
restart-strategy: none
taskmanager.memory.network.min: 384m
taskmanager.memory.network.max: 384m
taskmanager.network.sort-shuffle.min-buffers: 128
taskmanager.memory.task.off-heap.size: 512m
taskmanager.memory.framework.off-heap.size: 256m
heartbeat.timeout: 180000
akka.ask.timeout: 120 s
web.timeout: 120000
"""

LOG4J = """\
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FileAppender
appender.file.name = FileAppender
appender.file.type = FILE
appender.file.fileName = ${sys:log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-60c %x - %m%n
"""
