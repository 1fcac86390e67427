{#-
    The business date of this run as a SQL date expression: var run_date (YYYY-MM-DD, e.g.
    --vars '{run_date: 2025-03-04}'), else environment variable SALESDW_RUN_DATE, else the
    warehouse's current_date. A re-run of an old date gives the same numbers.
    The nightly DAG sets SALESDW_RUN_DATE to its data interval date. The variable is read only when
    dbt executes: a --vars value or an environment variable read while dbt parses is part of what its
    saved parse is valid for, so a new date every night would cost every night a full parse.
    Every model that needs "today" calls this macro instead of current_date.
-#}
{% macro get_run_date() -%}
    {%- set run_date = var('run_date', none) -%}
    {%- if (run_date is none or (run_date | string | trim) in ('', 'None', 'null')) and execute -%}
        {%- set run_date = env_var('SALESDW_RUN_DATE', '') -%}
    {%- endif -%}
    {%- if run_date is none or (run_date | string | trim) in ('', 'None', 'null') -%}
        current_date
    {%- else -%}
        {%- set run_date_text = run_date | string | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', run_date_text) -%}
            {{ exceptions.raise_compiler_error(
                "run_date (var or SALESDW_RUN_DATE) must be YYYY-MM-DD or null, got '" ~ run_date_text ~ "'"
            ) }}
        {%- endif -%}
        cast('{{ run_date_text }}' as date)
    {%- endif -%}
{%- endmacro %}


{#-
    SQL date expression: the as-of date of the month that month_expression (a date or timestamp)
    falls in: the month's last day, or the run date in the run date's month.
-#}
{% macro month_as_of_date(month_expression) -%}
    least(
        cast(date_trunc('month', {{ month_expression }}) + interval '1 month' - interval '1 day' as date),
        {{ get_run_date() }}
    )
{%- endmacro %}
