{#-
    The business date of this run as a SQL date expression.
    The nightly DAG passes var run_date (YYYY-MM-DD, its data interval date) so that a re-run of
    an old date gives the same numbers; without it the warehouse's current_date is used.
    Every model that needs "today" calls this macro instead of current_date.
-#}
{% macro get_run_date() -%}
    {%- set run_date = var('run_date', none) -%}
    {%- if run_date is none or (run_date | string | trim) in ('', 'None', 'null') -%}
        current_date
    {%- else -%}
        {%- set run_date_text = run_date | string | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', run_date_text) -%}
            {{ exceptions.raise_compiler_error(
                "var run_date must be YYYY-MM-DD or null, got '" ~ run_date_text ~ "'"
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
