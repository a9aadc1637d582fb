"""The seed report's DEMO 1 as it runs it: Spark Structured Streaming and a PipelineModel.

Runs in its own virtualenv (`.venvs/spark`, pyspark 3.5.7); `bench/peers.py` drives it.

    python bench/spark_demo.py train DATA_CSV MODEL_DIR   # the PipelineModel the job loads
    python bench/spark_demo.py stream MODEL_DIR           # the job (BENCH_BOOTSTRAP,
                                      # BENCH_TOPIC, BENCH_OUTPUT, BENCH_CHECKPOINT)

`stream` is the report's code (parse with `from_json` and the schema, `transform`, map the
prediction to the two phrases, write to the output topic with the Kafka sink) with its
paths and addresses taken from the environment, and one addition: the input's key is
carried to the output, so each answer can be matched with its input and timed.
"""

from __future__ import annotations

import os
import sys

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.sql import SparkSession
from pyspark.sql.functions import col, from_json, when
from pyspark.sql.types import DoubleType, StructField, StructType

CONNECTOR = "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7"
FEATURES = ["age", "sex", "chest pain type", "resting bp s", "cholesterol",
            "fasting blood sugar", "resting ecg", "max heart rate", "exercise angina",
            "oldpeak", "ST slope"]
CODED = ["chest pain type", "resting ecg", "ST slope"]


def session(name: str) -> SparkSession:
    return (SparkSession.builder.appName(name).master("local[2]")
            .config("spark.jars.packages", CONNECTOR)
            .config("spark.ui.enabled", "false")
            .getOrCreate())


def train(data_csv: str, model_dir: str) -> None:
    """StringIndexer/OneHotEncoder on the coded columns, VectorAssembler, LogisticRegression."""
    spark = session("heart-train")
    frame = spark.read.csv(data_csv, header=True, inferSchema=True)
    for name in [*FEATURES, "target"]:
        frame = frame.withColumn(name, col(name).cast(DoubleType()))
    indexed = [f"{c} index" for c in CODED]
    pipeline = Pipeline(stages=[
        StringIndexer(inputCols=CODED, outputCols=indexed, handleInvalid="keep"),
        OneHotEncoder(inputCols=indexed, outputCols=[f"{c} code" for c in CODED],
                      handleInvalid="keep"),
        VectorAssembler(inputCols=[c for c in FEATURES if c not in CODED]
                        + [f"{c} code" for c in CODED], outputCol="features",
                        handleInvalid="keep"),
        LogisticRegression(featuresCol="features", labelCol="target", maxIter=100),
    ])
    pipeline.fit(frame).write().overwrite().save(model_dir)
    spark.stop()


def stream(model_dir: str) -> None:
    spark = session("Kafka-Heart-Test")
    schema = StructType([StructField(name, DoubleType(), True) for name in FEATURES])
    kafka_df = (spark.readStream.format("kafka")
                .option("kafka.bootstrap.servers", os.environ["BENCH_BOOTSTRAP"])
                .option("subscribe", os.environ["BENCH_TOPIC"])
                .option("failOnDataLoss", "false")
                .load())
    value_df = kafka_df.selectExpr("key", "CAST(value AS STRING) as json_value")
    parsed_df = value_df.select("key", from_json(col("json_value"), schema).alias("data")) \
        .select("key", "data.*")
    pipeline_model = PipelineModel.load(model_dir)
    predicted = pipeline_model.transform(parsed_df)
    selected_predictions = predicted.select("key", "age", "sex", "prediction")
    output = selected_predictions.withColumn(
        "result",
        when(col("prediction") == 1, "Risk of Heart Disease")
        .otherwise("No Risk of Heart Disease"))
    query = (output.selectExpr("key", "CAST(result AS STRING) AS value")
             .writeStream.outputMode("append").format("kafka")
             .option("kafka.bootstrap.servers", os.environ["BENCH_BOOTSTRAP"])
             .option("topic", os.environ["BENCH_OUTPUT"])
             .option("checkpointLocation", os.environ["BENCH_CHECKPOINT"])
             .start())
    query.awaitTermination()


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3])
    else:
        stream(sys.argv[2])
