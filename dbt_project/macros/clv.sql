{#-
    Settings of the customer lifetime value model (see the README's CLV section). Each can be
    overridden with --vars; the defaults live here so that every CLV model reads the same ones.
-#}
{% macro clv_var(name) -%}
    {%- set defaults = {
        'clv_horizon_months': 12,
        'clv_frequency_window_days': 365,
        'clv_shrinkage_customers': 20,
        'clv_credibility_orders': 2,
        'clv_core_margin_share': 0.8,
        'clv_potential_top_share': 0.25,
        'clv_trend_months': 6,
        'clv_declining_ratio': 0.5,
        'clv_low_csat': 3.0,
        'service_cost_per_ticket': {'urgent': 1200, 'high': 600, 'normal': 250, 'low': 100},
    } -%}
    {%- if name not in defaults -%}
        {{ exceptions.raise_compiler_error("unknown CLV setting '" ~ name ~ "'") }}
    {%- endif -%}
    {{ return(var(name, defaults[name])) }}
{%- endmacro %}


{#-
    What a customer's value is counted on, var clv_value_basis (dbt_project.yml, exported by salesdw
    from the deployment's feeds): 'margin' (gross margin after product cost) or 'bookings' (the
    orders' amounts, no cost feed). int_customer_orders_margined applies it; the CLV marts name it.
-#}
{% macro clv_value_basis() -%}
    {%- set basis = var('clv_value_basis', 'margin') -%}
    {%- if basis not in ('margin', 'bookings') -%}
        {{ exceptions.raise_compiler_error(
            "var clv_value_basis is '" ~ basis ~ "' (env SALESDW_CLV_VALUE_BASIS); expected 'margin' or 'bookings'"
        ) }}
    {%- endif -%}
    {{ return(basis) }}
{%- endmacro %}


{#- SQL expression: the date months_back months before date_expression (a date). -#}
{% macro clv_months_before(date_expression, months) -%}
    cast({{ date_expression }} - interval '{{ months }} months' as date)
{%- endmacro %}


{#- SQL expression: the after-sales cost of a ticket of priority_column (var service_cost_per_ticket). -#}
{% macro service_cost_of_ticket(priority_column) -%}
    case {{ priority_column }}
        {%- for priority, cost in clv_var('service_cost_per_ticket').items() %}
        when '{{ priority }}' then {{ cost }}
        {%- endfor %}
        else 0
    end
{%- endmacro %}
