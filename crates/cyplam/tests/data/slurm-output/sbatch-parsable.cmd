sbatch --parsable --array=0-4 --cpus-per-task=12 --job-name=cyplam-fixture --chdir=/tmp/cyplam-fixtures.2uJDV2 '--output=/tmp/cyplam-fixtures.2uJDV2/out-%A_%a.txt' /tmp/cyplam-fixtures.2uJDV2/job.sh
